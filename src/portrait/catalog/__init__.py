"""The built-in tag catalog: YAML files read by portrait.tags.catalog."""
