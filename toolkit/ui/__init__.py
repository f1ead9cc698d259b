"""ipywidgets front ends. Each only wires widgets to functions that exist without it: anything a widget does, a
notebook cell can do. ``open_files``: pick exported files and open them as a Case."""
