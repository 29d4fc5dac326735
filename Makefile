# unipose_ros: the two commands of the README, and a few helpers.
#   make demo   replay the sample recording through the real node; outputs in demo_output/
#   make test   the whole test suite
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.unipose_installed
JOBS        ?= 2

.PHONY: demo test setup msgs clean-demo bench

$(STAMP): requirements.txt setup.py package.xml msg/*.msg scripts/install_venv.sh scripts/build_msgs.sh
	VENV=$(VENV) bash scripts/install_venv.sh
	touch $(STAMP)

setup: $(STAMP)

msgs: $(STAMP)
	bash scripts/build_msgs.sh $(VENV)

demo: $(STAMP)
	$(PY) -m unipose_ros.cli.demo --out demo_output

test: $(STAMP)
	bash scripts/run_tests.sh -n $(JOBS)

bench: $(STAMP)
	$(PY) scripts/bench_models.py
	$(PY) scripts/bench_node_latency.py

clean-demo:
	rm -rf demo_output
