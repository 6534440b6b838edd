"""``python -m lfdm_bench ...`` runs the ``lfdm-bench`` command line."""

from cli import main

if __name__ == "__main__":
    main(prog_name="lfdm-bench")
