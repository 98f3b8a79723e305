import torch


def upload(n, batch, device):
    x = torch.zeros(n, 16)
    a = x.to(device, non_blocking=True)  # expect: ACME002
    b = torch.ones(n).cuda(non_blocking=True)  # expect: ACME002
    pinned = torch.zeros(n, 16).pin_memory()
    c = pinned.to(device, non_blocking=True)
    d = x.pin_memory().to(device, non_blocking=True)
    e = batch.to(device, non_blocking=True)  # a parameter: unknown origin, not reported
    f = x.to(device)
    return a, b, c, d, e, f
