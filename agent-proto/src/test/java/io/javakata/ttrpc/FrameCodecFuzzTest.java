package io.javakata.ttrpc;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.AfterAll;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link FrameCodec#read} over arbitrary bytes, delivered in arbitrary pieces: it returns whole frames that
 * re-encode to exactly the bytes consumed, null only at a clean end, and fails only with its documented
 * EOFException or OversizeFrameException. What it allocates stays proportional to the bytes that really
 * arrived, never to what a header announces (a 4 GiB length must not cost 4 GiB, nor 4 MiB).
 */
class FrameCodecFuzzTest {

    private static final FuzzStats STATS = new FuzzStats(FrameCodecFuzzTest.class, "decodesAnyBytes");
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    /** Slack for the decoder's fixed costs: headers, the JDK's 16 KiB read chunks, the frame records. */
    private static final long FIXED_ALLOCATION = 256 * 1024;

    static {
        // Warm up every path once, so that class loading and string-concat bootstraps are not counted.
        for (byte[] warm : new byte[][] {{}, {0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 7}, {0, 0}, {0, 0, 0, 9, 0, 0, 0, 1, 1, 0, 1},
                {(byte) 0xff, 0, 0, 0, 0, 0, 0, 1, 1, 0}}) {
            for (int piece : new int[] {0, 1}) {
                try {
                    decodeAll(new Pieces(warm, piece), new ByteArrayOutputStream());
                } catch (IOException expected) {
                    // the paths that throw are warmed up too
                }
            }
        }
    }

    @FuzzTest(maxDuration = "5s")
    void decodesAnyBytes(byte[] input) throws IOException {
        STATS.execution();
        // The first byte picks how the stream is cut: whole, one byte at a time, or in pieces of 1..255.
        int piece = input.length == 0 ? 0 : input[0] & 0xff;
        byte[] wire = input.length == 0 ? input : Arrays.copyOfRange(input, 1, input.length);
        ByteArrayOutputStream reencoded = new ByteArrayOutputStream();
        Pieces in = new Pieces(wire, piece);
        try {
            decodeAll(in, reencoded);
            assertArrayEquals(wire, reencoded.toByteArray(), "a clean end: every byte belonged to a frame");
        } catch (FrameCodec.OversizeFrameException e) {
            int at = reencoded.size();
            assertTrue(wire.length >= at + FrameCodec.HEADER_LENGTH, "an oversize header was read whole");
            long announced = Integer.toUnsignedLong(readInt(wire, at));
            assertEquals(announced, e.length());
            assertTrue(announced > FrameCodec.MAX_DATA_LENGTH, e.getMessage());
            assertEquals(readInt(wire, at + 4), e.streamId());
        } catch (EOFException e) {
            assertTrue(wire.length > reencoded.size(), "EOF inside a frame leaves bytes that are no frame");
        }
        if (in.decoderAllocated > FIXED_ALLOCATION + 8L * wire.length) {
            fail("decoding " + wire.length + " bytes allocated " + in.decoderAllocated + " bytes");
        }
    }

    /** Reads frames to the end, re-encoding each into {@code reencoded}; counts what the reads allocate. */
    private static void decodeAll(Pieces in, ByteArrayOutputStream reencoded) throws IOException {
        while (true) {
            long before = THREADS.getCurrentThreadAllocatedBytes();
            Frame frame;
            try {
                frame = FrameCodec.read(in);
            } finally {
                in.decoderAllocated += THREADS.getCurrentThreadAllocatedBytes() - before;
            }
            if (frame == null) {
                return;
            }
            if (frame.data().length > FrameCodec.MAX_DATA_LENGTH) {
                fail("a frame of " + frame.data().length + " bytes");
            }
            reencoded.writeBytes(FrameCodec.encode(frame));
        }
    }

    @AfterAll
    static void report() {
        STATS.report();
    }

    private static int readInt(byte[] b, int at) {
        return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
    }

    /** The bytes as a socket might deliver them: at most {@code piece} per read (0: all at once). */
    private static final class Pieces extends ByteArrayInputStream {

        private final int piece;
        long decoderAllocated;

        Pieces(byte[] bytes, int piece) {
            super(bytes);
            this.piece = piece;
        }

        @Override
        public synchronized int read(byte[] b, int off, int len) {
            return super.read(b, off, piece == 0 ? len : Math.min(len, piece));
        }
    }
}
