"""CDK infrastructure of Switchboard. Imports the runtime's env-var names; the runtime never imports this."""
