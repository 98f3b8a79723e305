import acme
import acme.utils as au
from acme.utils import legacy_device as pick


def legacy_device():
    return "cpu"  # a local function of the same name: not the deprecated helper


A = acme.utils.legacy_device()  # expect: ACME004
B = au.legacy_device()  # expect: ACME004
C = pick()  # expect: ACME004
D = legacy_device()
E = acme.devices.best_device()
