"""The deployable: settings, the dependency-injector container, the CLI."""

from execution_service.app.container import Container
from execution_service.app.settings import Settings, SettingsError
from execution_service.app.web import create_app, with_runtime

__all__ = ["Container", "Settings", "SettingsError", "create_app", "with_runtime"]
