# javakata: build, install, demo and test. Every target runs on a fresh Debian 12 machine (as root):
# it installs what is missing first.
#
#   make demo     install everything, then run one container in a VM through a private containerd
#   make test     install everything, then run the unit tests and the integration tests
#   make install  install the shim, the guest assets and a default configuration (idempotent)
#   make dist     the self-contained release build/dist/javakata-<version>-linux-amd64.tar.gz (a jlink'd Java
#                 runtime inside: the node needs no Java) and its DaemonSet image; docs/install.md

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Java 25 for every mvn call, whatever the default java is: the JDK scripts/java-env.sh names (read from its
# JAVAKATA_JAVA_HOME_DEFAULT line), or JAVAKATA_JAVA_HOME from the environment or `make JAVAKATA_JAVA_HOME=...`.
# Exported, so the scripts make runs (which source java-env.sh) use the same one.
JAVAKATA_JAVA_HOME ?= $(shell sed -n 's/^JAVAKATA_JAVA_HOME_DEFAULT=//p' scripts/java-env.sh)
export JAVAKATA_JAVA_HOME
export JAVA_HOME := $(JAVAKATA_JAVA_HOME)
export MAVEN_OPTS ?= --sun-misc-unsafe-memory-access=allow
export PATH := $(JAVA_HOME)/bin:/usr/local/sbin:/usr/local/bin:$(PATH)

MVN         := mvn -B -q
GUEST_OUT   := build/guest
AGENT_JAR   := guest/target/javakata-agent.jar
SHIM_JAR    := shim/target/javakata-shim.jar
DIST        := shim/src/main/dist

PREFIX_BIN  := /usr/local/bin
SHARE       := /usr/share/javakata
LIBEXEC     := /usr/libexec/javakata
# Debian's vhost-device-vsock, unpacked by scripts/install-deps.sh ([agent] vhost_device_vsock names the installed copy).
VHOST_DEVICE_VSOCK := build/deps/unstable/usr/bin/vhost-device-vsock
ETC         := /etc/javakata
# The unprivileged user QEMU switches to ([hypervisor] run_as in configuration.toml).
QEMU_USER   := javakata-qemu

.PHONY: all deps build guest install dist demo test clean

all: build

deps:
	scripts/install-deps.sh

build: deps
	$(MVN) package -DskipTests

guest: build
	guest/image/build.sh --agent-jar $(AGENT_JAR) --out $(GUEST_OUT)

# install_new MODE,SOURCE,TARGET: SOURCE as TARGET.new, then renamed to TARGET.
install_new = install -D -m $(1) $(2) $(3).new && mv -f $(3).new $(3)

# The launcher runs without the source tree, so install writes the JDK's path into it.
install: deps build guest
	mkdir -p build
	sed 's|@JAVAKATA_JAVA_HOME@|$(JAVAKATA_JAVA_HOME)|' $(DIST)/containerd-shim-javakata-v2 \
	    > build/containerd-shim-javakata-v2
	# Each file is a new one, renamed into place (install(1) rewrites an existing file in place): what runs keeps the
	# old one unchanged under it. A shim JVM reads classes from its jar while it runs, bash reads the launcher as it
	# goes, running VMs map agent.img, and a QEMU that starts meanwhile reads the kernel and initrd whole.
	$(call install_new,0755,build/containerd-shim-javakata-v2,$(PREFIX_BIN)/containerd-shim-javakata-v2)
	$(call install_new,0644,$(SHIM_JAR),$(SHARE)/javakata-shim.jar)
	$(call install_new,0644,$(GUEST_OUT)/vmlinuz,$(SHARE)/vmlinuz)
	$(call install_new,0644,$(GUEST_OUT)/initrd.img,$(SHARE)/initrd.img)
	$(call install_new,0644,$(GUEST_OUT)/agent.img,$(SHARE)/agent.img)
	$(call install_new,0644,$(GUEST_OUT)/guest-manifest.json,$(SHARE)/guest-manifest.json)
	$(call install_new,0755,$(VHOST_DEVICE_VSOCK),$(LIBEXEC)/vhost-device-vsock)
	@if getent passwd $(QEMU_USER) >/dev/null; then \
	    echo "install: system user $(QEMU_USER) exists"; \
	else \
	    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	        --comment "javakata QEMU (hypervisor.run_as)" $(QEMU_USER); \
	    echo "install: created the system user $(QEMU_USER) that QEMU runs as"; \
	fi
	@if [[ -e $(ETC)/configuration.toml ]]; then \
	    if cmp -s $(DIST)/configuration.toml $(ETC)/configuration.toml; then \
	        echo "install: $(ETC)/configuration.toml is already the default"; \
	    else \
	        echo "install: kept the existing $(ETC)/configuration.toml (the default is $(DIST)/configuration.toml)"; \
	    fi; \
	else \
	    install -D -m 0644 $(DIST)/configuration.toml $(ETC)/configuration.toml; \
	    echo "install: wrote the default $(ETC)/configuration.toml"; \
	fi
	@if [[ -f $(DIST)/make-aot-cache.sh ]]; then bash $(DIST)/make-aot-cache.sh $(SHARE)/javakata-shim.jar; fi
	@echo "install: containerd-shim-javakata-v2 -> $(PREFIX_BIN), jar and guest assets -> $(SHARE), vhost-device-vsock -> $(LIBEXEC)"

dist: build guest
	scripts/dist.sh build/dist

demo: install
	scripts/demo.sh

# DistIT installs the release that dist builds. The VM templates the suite's pods built under the installed state
# directory go afterwards, whatever the outcome: a template is a cache of guest RAM, not something a test leaves.
test: install dist
	rc=0; mvn -B verify || rc=$$?; \
	$(PREFIX_BIN)/containerd-shim-javakata-v2 template rm --state-dir /run/javakata || { [ $$rc -ne 0 ] || rc=1; }; \
	exit $$rc

clean:
	$(MVN) clean
	rm -rf build
