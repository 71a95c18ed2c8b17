"""Writes tests/data/two_disks.msh: the unit disk with the inner disk r < 0.5 as its own
physical surface.  Physical groups: "boundary" (the circle r = 1, dimension 1), "inner"
(r < 0.5) and "outer" (0.5 < r < 1) (dimension 2); second-order triangles of size 0.25
whose edges follow the interface r = 0.5.

Run from the repository root: .venv/bin/python tests/data/make_two_disks_msh.py
(tests/test_sciml/references/test_fem_subdomains.py calls ``write`` for finer meshes).
"""
import math
from pathlib import Path


def write(path, h=0.25, order=2, a=0.5):
    import gmsh
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("two_disks")
        geo = gmsh.model.geo
        c = geo.addPoint(0, 0, 0, h)

        def circle(r):
            pts = [geo.addPoint(r * math.cos(t), r * math.sin(t), 0, h)
                   for t in (0, math.pi / 2, math.pi, 3 * math.pi / 2)]
            return [geo.addCircleArc(pts[i], c, pts[(i + 1) % 4]) for i in range(4)]
        inner_arcs, outer_arcs = circle(a), circle(1.0)
        inner_loop, outer_loop = geo.addCurveLoop(inner_arcs), geo.addCurveLoop(outer_arcs)
        inner = geo.addPlaneSurface([inner_loop])
        outer = geo.addPlaneSurface([outer_loop, inner_loop])
        geo.synchronize()
        gmsh.model.addPhysicalGroup(1, outer_arcs, 1)
        gmsh.model.setPhysicalName(1, 1, "boundary")
        gmsh.model.addPhysicalGroup(2, [inner], 2)
        gmsh.model.setPhysicalName(2, 2, "inner")
        gmsh.model.addPhysicalGroup(2, [outer], 3)
        gmsh.model.setPhysicalName(2, 3, "outer")
        gmsh.option.setNumber("Mesh.CharacteristicLengthMin", h)
        gmsh.option.setNumber("Mesh.CharacteristicLengthMax", h)
        gmsh.model.mesh.generate(2)
        if order > 1:
            gmsh.model.mesh.setOrder(order)
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


if __name__ == "__main__":
    write(Path(__file__).with_name("two_disks.msh"))
