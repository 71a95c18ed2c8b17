"""Writes tests/data/disk.msh: the unit disk, second-order triangles of size 0.25,
physical groups "outer" (the circle, dimension 1) and "domain" (dimension 2).

Run from the repository root: .venv/bin/python tests/data/make_disk_msh.py
"""
import math
from pathlib import Path

import gmsh

h = 0.25
gmsh.initialize(readConfigFiles=False)
gmsh.option.setNumber("General.Terminal", 0)
gmsh.model.add("disk")
geo = gmsh.model.geo
c = geo.addPoint(0, 0, 0, h)
pts = [geo.addPoint(math.cos(a), math.sin(a), 0, h) for a in (0, math.pi / 2, math.pi, 3 * math.pi / 2)]
arcs = [geo.addCircleArc(pts[i], c, pts[(i + 1) % 4]) for i in range(4)]
surf = geo.addPlaneSurface([geo.addCurveLoop(arcs)])
geo.synchronize()
gmsh.model.addPhysicalGroup(1, arcs, 1)
gmsh.model.setPhysicalName(1, 1, "outer")
gmsh.model.addPhysicalGroup(2, [surf], 2)
gmsh.model.setPhysicalName(2, 2, "domain")
gmsh.model.mesh.generate(2)
gmsh.model.mesh.setOrder(2)
gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
gmsh.write(str(Path(__file__).with_name("disk.msh")))
gmsh.finalize()
