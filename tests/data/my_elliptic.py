# my_elliptic.py: the example, as a user writes it (run from tests/data, next to disk.msh)
from problems.elliptic import Elliptic, Box, Polygon, MeshFile

def a(x, xp):
    return 1.0 + 0.5 * xp.sin(2 * xp.pi * x[0]) * xp.sin(2 * xp.pi * x[1])

varcoef = Elliptic(domain=Box([0, 0], [1, 1]), coefficient=a, source=1.0, dirichlet=0.0, x0=[0.5, 0.5])
lshape = Elliptic(domain=Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]), source=1.0,
                  dirichlet=0.0, x0=[-0.5, -0.5])
mixed = Elliptic(domain=Box([0, 0], [1, 1]), source=1.0,
                 boundaries={"left": lambda x, xp: x[0] < 1e-12},      # named parts: predicates or mesh tags
                 dirichlet={"left": 0.0}, neumann={"rest": 1.0})        # "rest": every part not named
disk = Elliptic(domain=MeshFile("disk.msh"), source=1.0, dirichlet={"outer": 0.0})   # a gmsh physical tag
