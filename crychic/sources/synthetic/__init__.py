"""The built-in synthetic action benchmark: articulated figures rendered into real mp4 files.

It exists to show the method's point on a fresh machine with no download: in the object-defined
groups keypoints are identically distributed across classes and only RGB (the held object)
separates them; in the motion-defined group only the motion does, under appearance nuisance.
See `classes` for the class list, `generate` for the on-disk layout. Nothing is imported here, so
reading the class list (evaluate does) never loads the renderer.
"""
