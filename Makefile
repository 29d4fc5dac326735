# unipose_ros: the two commands of the README, and a few helpers.
#   make demo   replay the sample recording through the real node; outputs in demo_output/
#   make test   the whole test suite (ROS 2 Kilted wheels in .venv)
#   make test ROS_DISTRO=jazzy   the same suite on the ROS 2 Jazzy wheels (in .venv-jazzy)
#   make colcon-test   colcon build and colcon test in a throwaway workspace (scripts/colcon_test.sh)
ROS_DISTRO  ?= kilted
ifeq ($(ROS_DISTRO),kilted)
VENV        ?= .venv
else
VENV        ?= .venv-$(ROS_DISTRO)
endif
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.unipose_installed
JOBS        ?= 2

.PHONY: demo test colcon-test setup msgs clean-demo bench

$(STAMP): requirements.txt requirements-jazzy.txt setup.py package.xml msg/*.msg scripts/install_venv.sh scripts/build_msgs.sh
	ROS_DISTRO=$(ROS_DISTRO) VENV=$(VENV) bash scripts/install_venv.sh
	touch $(STAMP)

setup: $(STAMP)

msgs: $(STAMP)
	bash scripts/build_msgs.sh $(VENV)

demo: $(STAMP)
	$(PY) -m unipose_ros.cli.demo --out demo_output

test: $(STAMP)
	VENV=$(abspath $(VENV)) bash scripts/run_tests.sh -n $(JOBS)

colcon-test: $(STAMP)
	bash scripts/colcon_test.sh $(VENV)

bench: $(STAMP)
	$(PY) scripts/bench_models.py
	$(PY) scripts/bench_node_latency.py

clean-demo:
	rm -rf demo_output
