import torch
from fastapi import FastAPI

app = FastAPI()
MODEL = torch.nn.Linear(4, 4)
FAST = torch.compile(MODEL)


@app.get("/predict")
def predict(x):
    return torch.compile(MODEL)(x)  # expect: ACME003


async def generate(x):
    compiled = torch.compile(MODEL, mode="reduce-overhead")  # expect: ACME003
    return compiled(x)


def load():
    return torch.compile(MODEL)  # startup code: fine


@app.get("/fast")
def fast(x):
    return FAST(x)
