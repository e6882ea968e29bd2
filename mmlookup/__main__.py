import sys

from mmlookup.cli import main

sys.exit(main())
