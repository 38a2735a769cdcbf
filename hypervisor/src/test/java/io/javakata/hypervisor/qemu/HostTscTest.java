package io.javakata.hypervisor.qemu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(10)
class HostTscTest {

    @TempDir
    Path dir;

    private OptionalLong khz(String cpuinfo) throws IOException {
        Path file = dir.resolve("cpuinfo");
        Files.writeString(file, cpuinfo);
        return HostTsc.khz(file);
    }

    @Test
    void readsTheFirstCpuMhzWhenTheTscIsConstant() throws IOException {
        assertEquals(OptionalLong.of(2_596_120), khz("""
                processor\t: 0
                model name\t: AMD EPYC
                cpu MHz\t\t: 2596.120
                flags\t\t: fpu tsc constant_tsc nonstop_tsc
                processor\t: 1
                cpu MHz\t\t: 1000.000
                """));
    }

    @Test
    void noConstantTscOrNoNumberOrNoFileMeansUnknown() throws IOException {
        assertEquals(OptionalLong.empty(), khz("cpu MHz\t\t: 2596.120\nflags\t\t: fpu tsc\n"));
        assertEquals(OptionalLong.empty(), khz("cpu MHz\t\t: fast\nflags\t\t: constant_tsc\n"));
        assertEquals(OptionalLong.empty(), HostTsc.khz(dir.resolve("absent")));
    }
}
