# Two entry points, each doing all of its own set-up, idempotently:
#   make demo   set up, then run playbooks/demo.yml on real guests
#   make test   set up, then run every check (tests/run_all.sh prints the summary)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/build/collections
export VIRTOPS_GUEST_DIR ?= /var/lib/virtops/guest
# pip's cache stays in the checkout: `make test` leaves the home directory alone.
export PIP_CACHE_DIR := $(CURDIR)/build/pip-cache
COLLECTION_LINK := build/collections/ansible_collections/virtops/libvirt

.PHONY: help setup system venv collection daemons network hypervisor2 sshd guest image demo demo-vm test bench clean-guests \
	lint sanity unit integration molecule

help:
	@echo "make demo   - set everything up, then show the power lifecycle on real guests"
	@echo "make demo-vm - set everything up, then make one real Debian VM from an image, log in, remove it"
	@echo "make test   - set everything up, then run every check"
	@echo "make bench  - set everything up, then compare speed with community.libvirt"

setup: system venv collection daemons network hypervisor2 sshd guest image

system:
	@tests/testbed/install_system.sh

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-test.txt requirements.txt
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-test.txt
	@touch $@
	@echo "venv: $(VENV) has the pinned packages of requirements-test.txt"

collection:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

daemons:
	@tests/testbed/start_daemons.sh

# libvirt's `default` network, inside the daemons' network namespace only
network: daemons
	@tests/testbed/start_network.sh

# a second libvirtd, "hv2", for migrations: same netns, own mount namespace,
# reached as qemu+unix:///system?socket=/var/lib/virtops/hv2/sock/libvirt-sock
hypervisor2: network
	@tests/testbed/start_second_daemon.sh

# sshd on 127.0.0.1 with a throwaway key, for libvirt's qemu+ssh:// transport
sshd: daemons
	@tests/testbed/start_sshd.sh

guest:
	@tests/testbed/build_guest.sh

# a real Debian 12 guest image (cloud-init, qemu-guest-agent), built once and cached
image:
	@tests/testbed/build_image.sh

demo: setup
	ansible-playbook playbooks/demo.yml
	ansible-playbook playbooks/demo_migrate.yml
	ansible-playbook playbooks/demo_vm.yml

# Only the act of `make demo` with a real Debian VM from the test bed's image.
demo-vm: setup
	ansible-playbook playbooks/demo_vm.yml

test: setup
	@tests/run_all.sh

bench: setup
	python tests/perf/bench_power.py
	python tests/perf/bench_domain.py
	python tests/perf/bench_inventory.py
	python tests/perf/bench_fleet.py
	python tests/perf/bench_migrate.py

# Single stages, for development (they assume `make setup` ran).
lint unit sanity integration molecule:
	@tests/run_all.sh $@

clean-guests:
	python tests/testbed/guest.py cleanup
