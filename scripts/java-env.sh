# Sourced, never run: the one place javakata names the JDK it builds and runs with. The Makefile reads the default
# from the JAVAKATA_JAVA_HOME_DEFAULT line below; `make install` writes the chosen JDK into the installed launcher.
#
#   . scripts/java-env.sh
#
# The only override is JAVAKATA_JAVA_HOME (in the environment, or `make JAVAKATA_JAVA_HOME=...`). A caller's
# JAVA_HOME is deliberately ignored: on many hosts it names another Java, and javakata needs 25.
# Sets JAVAKATA_JAVA_HOME and JAVA_HOME to that JDK, puts its bin first on PATH, and gives MAVEN_OPTS the option
# Maven needs on Java 25 unless MAVEN_OPTS is already set.

JAVAKATA_JAVA_HOME_DEFAULT=/usr/lib/jvm/temurin-25-jdk-amd64
export JAVAKATA_JAVA_HOME="${JAVAKATA_JAVA_HOME:-$JAVAKATA_JAVA_HOME_DEFAULT}"
export JAVA_HOME="$JAVAKATA_JAVA_HOME"
export PATH="$JAVA_HOME/bin:$PATH"
export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"
