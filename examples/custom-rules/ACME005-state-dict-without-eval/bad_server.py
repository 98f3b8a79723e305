import torch
from mynet import Net


class Server:
    def __init__(self, path, optimizer):
        self.model = Net()
        self.model.load_state_dict(torch.load(path, weights_only=True))  # expect: ACME005
        optimizer.load_state_dict(torch.load(path + ".opt", weights_only=True))  # not a model

    def predict(self, x):
        with torch.inference_mode():
            return self.model(x)
