"""Image in, image out on a prepared model: the pipeline, tiling and the tile runner."""
