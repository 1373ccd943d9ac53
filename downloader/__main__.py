from __future__ import annotations

import sys

from downloader.cli import main

sys.exit(main())
