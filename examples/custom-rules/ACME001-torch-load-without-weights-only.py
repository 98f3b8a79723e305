import pickle

import torch
import torch as th
from torch import load


def restore(path, options):
    a = torch.load(path)  # expect: ACME001
    b = th.load(path, map_location="cpu")  # expect: ACME001
    c = load(path, weights_only=False)  # expect: ACME001
    d = torch.load(path, weights_only=True)
    e = torch.load(path, **options)  # the keyword may be in options: not reported
    f = pickle.load(open(path, "rb"))  # not torch.load
    return a, b, c, d, e, f


def load_config(path):
    return path


cfg = load_config("x.yaml")  # a local function named load*: not torch.load
