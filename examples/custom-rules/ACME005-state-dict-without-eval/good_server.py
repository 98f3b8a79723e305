import torch
from mynet import Net


class Server:
    def __init__(self, path):
        self.model = Net()
        self.model.load_state_dict(torch.load(path, weights_only=True))
        self.model.eval()

    def predict(self, x):
        with torch.inference_mode():
            return self.model(x)


def test_roundtrip(tmp_path):
    model = Net()
    model.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
