# my_subdomains.py: a coefficient per gmsh subdomain, as a user writes it (run from tests/data,
# next to two_disks.msh, made by make_two_disks_msh.py).  -div(k grad u) = 1 on the unit disk,
# u = 0 on r = 1, k = 10 for r < 0.5 ("inner") and 1 outside ("outer").
from problems.elliptic import Elliptic, MeshFile

A, K1, K2 = 0.5, 10.0, 1.0


def exact(x, xp):
    # flux continuity at r = a gives k u' = -r/2 in both regions
    r2 = x[0] ** 2 + x[1] ** 2
    return (1 - r2) / (4 * K2) + xp.maximum(A * A - r2, 0.0) * (1 / (4 * K1) - 1 / (4 * K2))


two_disks = Elliptic(domain=MeshFile("two_disks.msh"), coefficient={"inner": K1, "outer": K2}, source=1.0,
                     dirichlet={"boundary": 0.0}, exact_solution=exact, x0=[0.0, 0.0])
# the same problem with the coefficient as functions and the outer value as "rest"
two_disks_fn = Elliptic(domain=MeshFile("two_disks.msh"),
                        coefficient={"inner": lambda x, xp: K1 + 0 * x[0], "rest": K2}, source=1.0,
                        dirichlet={"boundary": 0.0}, exact_solution=exact, x0=[0.0, 0.0])
