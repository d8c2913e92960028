# Stands in for the extension's root __init__.py (which registers Blender classes and imports bpy) when mypy
# checks operators/jobs.py as part of the package: see [tool.mypy] in pyproject.toml.
