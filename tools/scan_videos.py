"""Same as `mmlookup data scan ANNOTATIONS [ROOT]`: list missing/undecodable videos before training."""
import sys

from mmlookup.data.cli import scan_main

if __name__ == "__main__":
    sys.exit(scan_main(sys.argv[1:]))
