"""Settings: ``base`` reads the environment; ``local``, ``test``, ``production`` refine it."""
