package io.javakata.it.cri;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.javakata.it.cri.v1.ImageServiceGrpc;
import io.javakata.it.cri.v1.RuntimeServiceGrpc;

/**
 * A CRI v1 client over containerd's gRPC Unix socket, as the kubelet is one. Every call has a deadline: {@link
 * #runtime()} and {@link #images()} give stubs with the default deadline (60 s, room for a VM boot under TCG),
 * {@link #runtime(Duration)} one of the caller's. Thread-safe; close it to release the channel and its event loop.
 */
public final class CriClient implements AutoCloseable {

    public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(60);

    private final EventLoopGroup loop;
    private final ManagedChannel channel;

    public CriClient(Path socket) {
        this.loop = new EpollEventLoopGroup(1);
        this.channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .eventLoopGroup(loop)
                .channelType(EpollDomainSocketChannel.class)
                .usePlaintext()
                .maxInboundMessageSize(64 << 20)
                .build();
    }

    /** RuntimeService with {@link #DEFAULT_DEADLINE}. */
    public RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return runtime(DEFAULT_DEADLINE);
    }

    /** RuntimeService whose next call must finish within {@code deadline} (a deadline starts when the stub is made). */
    public RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime(Duration deadline) {
        return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** ImageService with {@link #DEFAULT_DEADLINE}. */
    public ImageServiceGrpc.ImageServiceBlockingStub images() {
        return ImageServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(DEFAULT_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
