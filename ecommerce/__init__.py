"""The shop's platform: settings, URL configuration, and the shared kernel (bus, common)."""
