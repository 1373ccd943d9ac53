"""A loopback emulator of the Pixxel, Scale and Alteryx APIs and of their file hosts."""
