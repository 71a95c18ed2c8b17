# my_inverse.py: coefficient recovery on your own forward problem (run from tests/data)
#   sciml solve my_inverse.py:quadrants --solver fem-inverse -p noise=0.01 --json
from problems.elliptic import Box, Elliptic
from problems.elliptic_inverse import EllipticInverse

forward = Elliptic(domain=Box([0, 0], [2, 1]), source=1.0, dirichlet=0.0)
# k = 1, 2, 3, 4 on the quadrants of [0, 2] x [0, 1]; data: a P2 solve with k_true, 80 points, noise as given
quadrants = EllipticInverse(forward=forward, parametrisation="quadrants", k_true=(1.0, 2.0, 3.0, 4.0), n_obs=80)
