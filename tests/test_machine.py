"""Where a figure was made: the machine record every training and evaluate stage writes."""

from crychic.core.machine import cpu_model, describe_machine, machine_tags

EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
"""


def test_cpu_model_reads_the_model_name_line():
    assert cpu_model(EPYC) == "AMD EPYC 7B13"
    assert cpu_model("Processor\t: ARMv8 Processor rev 1\n") == "ARMv8 Processor rev 1"
    assert cpu_model("") != ""  # no cpuinfo: the platform's answer, never empty


def test_record_names_the_processor_the_torch_build_and_the_kernel_caps():
    record = describe_machine()
    assert record["cpu"] and record["cores"] >= 1 and record["torch"].startswith("2.13")
    assert set(record["cpu_kernels"]) == {"ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"}
    tags = machine_tags(record)
    assert tags["machine.cpu"] == record["cpu"] and tags["machine.cpu_kernels.ATEN_CPU_CAPABILITY"]
    assert all(isinstance(v, str) for v in tags.values())
