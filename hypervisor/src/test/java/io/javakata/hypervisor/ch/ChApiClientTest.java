package io.javakata.hypervisor.ch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The REST client against the fake API server: bodies, statuses, errors and deadlines. */
class ChApiClientTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private FakeChApi fake;
    private ChApiClient client;

    @BeforeEach
    void startFake() throws IOException {
        fake = new FakeChApi(dir.resolve("api.sock"));
        client = new ChApiClient(dir.resolve("api.sock"));
    }

    @AfterEach
    void stopFake() throws IOException {
        fake.close();
    }

    private ObjectNode minimalConfig() {
        ObjectNode config = JSON.createObjectNode();
        config.putObject("payload").put("kernel", "/k");
        return config;
    }

    @Test
    void pingAnswersTheVersion() throws IOException {
        JsonNode ping = client.get("vmm.ping", TIMEOUT);
        assertEquals("49.0.0", ping.path("version").asText());
        assertEquals(List.of(new FakeChApi.Request("GET", "vmm.ping", null)), fake.requests);
    }

    @Test
    void createBootShutdownDeleteInTheirOrder() throws IOException {
        assertNull(client.put("vm.create", minimalConfig(), TIMEOUT));
        assertEquals(minimalConfig(), fake.body("vm.create"));
        assertNull(client.put("vm.boot", null, TIMEOUT));
        assertEquals("Running", client.get("vm.info", TIMEOUT).path("state").asText());
        assertNull(client.put("vm.shutdown", null, TIMEOUT));
        assertNull(client.put("vm.delete", null, TIMEOUT));
        assertEquals(FakeChApi.VmState.NONE, fake.state());
        assertEquals(List.of("vm.create", "vm.boot", "vm.info", "vm.shutdown", "vm.delete"), fake.actions());
    }

    @Test
    void aSecondCreateIsRefusedWithCloudHypervisorsWords() throws IOException {
        client.put("vm.create", minimalConfig(), TIMEOUT);
        ChApiException e = assertThrows(ChApiException.class, () -> client.put("vm.create", minimalConfig(), TIMEOUT));
        assertEquals(500, e.status());
        assertEquals("vm.create", e.call());
        assertEquals("vm.create: Cloud Hypervisor answered 500: Error from API: The VM could not be created: "
                + "VM is already created", e.getMessage());
    }

    @Test
    void bootBeforeCreateIs404AndShutdownOfACreatedVmIs405() throws IOException {
        ChApiException boot = assertThrows(ChApiException.class, () -> client.put("vm.boot", null, TIMEOUT));
        assertEquals(404, boot.status());
        assertTrue(boot.getMessage().endsWith("VM is not created"), boot.getMessage());
        client.put("vm.create", minimalConfig(), TIMEOUT);
        ChApiException shutdown = assertThrows(ChApiException.class,
                () -> client.put("vm.shutdown", null, TIMEOUT));
        assertEquals(405, shutdown.status());
    }

    @Test
    void anUnknownFieldIsRefusedNamingIt() {
        ObjectNode config = minimalConfig();
        config.putObject("cpus").put("boot_vcpus", 1).put("max_vcpus", 1).put("bootvcpus", 1);
        ChApiException e = assertThrows(ChApiException.class, () -> client.put("vm.create", config, TIMEOUT));
        assertEquals(400, e.status());
        assertTrue(e.chMessage().contains("unknown field `bootvcpus` in CpusConfig at cpus.bootvcpus"),
                e.chMessage());
    }

    @Test
    void aRefusalCarriesTheStatusAndTheMessage() {
        fake.faults.put("vm.boot", new FakeChApi.Fault.Refuse(500, "Error from API", "The VM could not boot",
                "Error creating vCPU: Invalid argument"));
        ChApiException e = assertThrows(ChApiException.class, () -> client.put("vm.boot", null, TIMEOUT));
        assertEquals("vm.boot: Cloud Hypervisor answered 500: Error from API: The VM could not boot: "
                + "Error creating vCPU: Invalid argument", e.getMessage());
    }

    @Test
    void aConnectionThatDiesMidAnswerIsAnErrorNamingTheCall() {
        fake.faults.put("vmm.ping", new FakeChApi.Fault.DieMidAnswer());
        IOException e = assertThrows(IOException.class, () -> client.get("vmm.ping", TIMEOUT));
        assertTrue(e.getMessage().startsWith("vmm.ping (GET /api/v1/vmm.ping on " + dir.resolve("api.sock") + "): "
                + "connection closed after "), e.getMessage());
        assertTrue(e.getMessage().endsWith("before the response body was complete"), e.getMessage());
    }

    @Test
    void aSilentServerHitsTheDeadline() {
        fake.faults.put("vm.boot", new FakeChApi.Fault.Silent());
        long start = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> client.put("vm.boot", null, Duration.ofMillis(300)));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(e.getMessage().endsWith("no complete answer within PT0.3S"), e.getMessage());
        assertTrue(millis >= 300 && millis < 3000, millis + " ms");
    }

    @Test
    void aMissingSocketNamesIt() throws IOException {
        fake.close();
        IOException e = assertThrows(IOException.class, () -> client.get("vmm.ping", TIMEOUT));
        assertTrue(e.getMessage().startsWith("vmm.ping (GET /api/v1/vmm.ping on " + dir.resolve("api.sock") + "): "),
                e.getMessage());
    }

    @Test
    void anUnknownEndpointIs404() {
        ChApiException e = assertThrows(ChApiException.class, () -> client.put("vm.frobnicate", null, TIMEOUT));
        assertEquals(404, e.status());
    }

    @Test
    void requestsCarryContentLengthOnlyWithABody() {
        assertEquals("PUT /api/v1/vm.boot HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n",
                new String(ChApiClient.request("PUT", "vm.boot", null), StandardCharsets.US_ASCII));
        assertEquals("PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                        + "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                new String(ChApiClient.request("PUT", "vm.create", "{}".getBytes(StandardCharsets.UTF_8)),
                        StandardCharsets.US_ASCII));
    }

    @Test
    void errorBodiesOfOldAndNewReleasesReadAlike() {
        assertEquals("Error from API: VM is not created",
                ChApiClient.errorText("[\"Error from API\",\"VM is not created\"]".getBytes(StandardCharsets.UTF_8)));
        assertEquals("Error from API: VmNotCreated",
                ChApiClient.errorText("Error from API: VmNotCreated\n".getBytes(StandardCharsets.UTF_8)));
        assertEquals("", ChApiClient.errorText(new byte[0]));
    }
}
