# Stands in for operators/__init__.py (Blender operator registration, bpy) when mypy checks operators/jobs.py:
# see [tool.mypy] in pyproject.toml.
