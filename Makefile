# Quickstart targets. Each does its own setup, once: the virtualenv is rebuilt only when
# pyproject.toml or scripts/setup.sh change, so a second run starts within seconds.
VENV ?= .venv
READY := $(VENV)/.fuse_edu-ready
OUT ?= out

.PHONY: demo test lab notebooks site clean

$(READY): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)

## demo: the main job, offline: caption 4 toy scenes, writing $(OUT)/captions.csv and $(OUT)/summary.md
## (a rerun replaces them: $(OUT) is this target's own folder; fuse-edu itself refuses to overwrite unasked)
demo: $(READY)
	$(VENV)/bin/fuse-edu demo --out $(OUT) --overwrite

## test: every test, notebooks included (nbval)
test: $(READY)
	$(VENV)/bin/python -m pytest

## lab: open the notebooks in JupyterLab (installs it on first use)
lab: $(READY)
	$(VENV)/bin/python -c "import jupyterlab" 2>/dev/null || $(VENV)/bin/python -m pip install --quiet -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks/

## notebooks: re-execute the walk-throughs and store their outputs (after changing them)
notebooks: $(READY)
	$(VENV)/bin/python scripts/execute_notebooks.py

## site: the course website, built offline from the notebooks' stored outputs into site/ (open site/html/index.html)
site: $(READY)
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m sphinx -M html . site -c docs/site -q

clean:
	rm -rf $(VENV) $(OUT) site .pytest_cache
