package ringattn.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import ringattn.engine.device.Devices;

/**
 * What {@code --device auto} reports: the accelerators among the kernel providers (the CPU kernels
 * are providers too, and must not pass for an accelerator). The cuda module is on this module's
 * test path.
 */
class DeviceChoiceTest {
    @Test
    void autoLooksAtAcceleratorsOnly() {
        String choice = Device.autoChoice();
        if (Devices.probe("cuda").available()) {
            assertTrue(choice.startsWith("cuda (auto: "), choice);
        } else {
            assertTrue(choice.startsWith("cpu (auto: no usable cuda device; --device cuda says why; "), choice);
        }
    }
}
