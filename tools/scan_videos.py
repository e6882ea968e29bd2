"""Same as `mmlookup data scan ANNOTATIONS [ROOT]`: list missing/undecodable videos before training."""
import sys

if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists
    from mmlookup.data.cli import scan_main

    sys.exit(scan_main(sys.argv[1:]))
