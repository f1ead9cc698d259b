"""``python -m toolkit.frames > docs/frames.md``: write the frames reference generated from the contract."""

import sys

from toolkit.frames import markdown_table

sys.stdout.write(markdown_table())
