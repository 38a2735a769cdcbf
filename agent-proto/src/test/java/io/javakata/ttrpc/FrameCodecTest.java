package io.javakata.ttrpc;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(10)
class FrameCodecTest {

    @Test
    void headerIsBigEndianLengthStreamTypeFlags() {
        byte[] bytes = FrameCodec.encode(new Frame(0x01020304, 2, 0x05, new byte[] {9, 8, 7}));
        assertArrayEquals(new byte[] {0, 0, 0, 3, 1, 2, 3, 4, 2, 5, 9, 8, 7}, bytes);
    }

    @Test
    void framesSplitIntoSingleBytesReassemble() throws IOException {
        Frame first = new Frame(1, Frame.TYPE_REQUEST, 0, "hello".getBytes());
        Frame second = new Frame(3, Frame.TYPE_RESPONSE, 0, new byte[0]);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        FrameCodec.write(out, first);
        FrameCodec.write(out, second);
        InputStream trickle = new OneByteAtATime(new ByteArrayInputStream(out.toByteArray()));
        assertEquals(first, FrameCodec.read(trickle));
        assertEquals(second, FrameCodec.read(trickle));
        assertNull(FrameCodec.read(trickle), "clean end between frames");
    }

    @Test
    void unknownTypeAndFlagsPassThrough() throws IOException {
        Frame data = new Frame(7, Frame.TYPE_DATA, 0x05, new byte[] {1});
        Frame odd = new Frame(-1, 0xff, 0xff, new byte[0]);
        assertEquals(data, FrameCodec.read(new ByteArrayInputStream(FrameCodec.encode(data))));
        Frame read = FrameCodec.read(new ByteArrayInputStream(FrameCodec.encode(odd)));
        assertEquals(odd, read);
        assertEquals("4294967295", Integer.toUnsignedString(read.streamId()));
    }

    @Test
    void exactlyFourMebibytesIsAllowed() throws IOException {
        byte[] data = new byte[FrameCodec.MAX_DATA_LENGTH];
        data[data.length - 1] = 42;
        Frame frame = FrameCodec.read(new ByteArrayInputStream(FrameCodec.encode(new Frame(1, 1, 0, data))));
        assertEquals(FrameCodec.MAX_DATA_LENGTH, frame.data().length);
        assertEquals(42, frame.data()[data.length - 1]);
    }

    @Test
    void oversizeHeaderIsRejectedWithoutReadingTheData() {
        byte[] header = {0, 0x50, 0, 0, 0, 0, 0, 9, 1, 0};
        var e = assertThrows(FrameCodec.OversizeFrameException.class,
                () -> FrameCodec.read(new ByteArrayInputStream(header)));
        assertEquals(9, e.streamId());
        assertEquals(5L * 1024 * 1024, e.length());
        assertEquals("message length 5242880 exceed maximum message size of 4194304", e.getMessage());
        byte[] huge = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0, 0, 0, 1, 1, 0};
        var e2 = assertThrows(FrameCodec.OversizeFrameException.class,
                () -> FrameCodec.read(new ByteArrayInputStream(huge)));
        assertEquals(4294967295L, e2.length());
        assertThrows(IllegalArgumentException.class, () -> new Frame(1, 1, 0, new byte[FrameCodec.MAX_DATA_LENGTH + 1]));
    }

    @Test
    void truncatedHeaderOrDataIsEof() {
        byte[] whole = FrameCodec.encode(new Frame(1, 1, 0, new byte[] {1, 2, 3, 4}));
        assertThrows(EOFException.class, () -> FrameCodec.read(new ByteArrayInputStream(Arrays.copyOf(whole, 4))));
        assertThrows(EOFException.class, () -> FrameCodec.read(new ByteArrayInputStream(Arrays.copyOf(whole, 12))));
    }

    @Test
    void frameRejectsOutOfRangeTypeAndFlags() {
        assertThrows(IllegalArgumentException.class, () -> new Frame(1, 256, 0, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> new Frame(1, 1, -1, new byte[0]));
    }

    /** Hands out one byte per read, as a slow socket may. */
    private static final class OneByteAtATime extends FilterInputStream {
        OneByteAtATime(InputStream in) {
            super(in);
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return super.read(b, off, Math.min(len, 1));
        }
    }
}
