"""Data layer: find, validate and load image sets and benchmark tables."""

from gradsign.data.paths import (
    DataResource,
    RESOURCES,
    find_resource,
    resolve_data_dir,
)

__all__ = ["DataResource", "RESOURCES", "find_resource", "resolve_data_dir"]
