"""hopnhat: continuity of public administrative services while merged provinces' systems become one."""

__version__ = "0.1.0"
__all__ = ["__version__"]
