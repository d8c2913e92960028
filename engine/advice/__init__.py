"""The Tensor Core advisor and channel padding."""
