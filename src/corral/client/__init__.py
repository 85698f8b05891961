"""The supported Python client of corral: `from corral.client import Client`."""

from corral.client.client import Client, ClientError, ControllerUnreachable
from corral.client.locate import locate_controller

__all__ = ["Client", "ClientError", "ControllerUnreachable", "locate_controller"]
