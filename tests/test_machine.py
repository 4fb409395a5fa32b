"""Where a figure was made: the machine record every training and evaluate stage writes."""

from crychic.core.machine import cpu_identity, cpu_model, describe_machine, machine_tags

EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
cache size\t: 1024 KB
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni
"""
ZEN3 = EPYC.replace("model\t\t: 17", "model\t\t: 1").replace("cache size\t: 1024 KB", "cache size\t: 512 KB").replace(
    " avx512f avx512_bf16 avx512_vnni", "")


def test_cpu_model_reads_the_model_name_line():
    assert cpu_model(EPYC) == "AMD EPYC"
    assert cpu_model("Processor\t: ARMv8 Processor rev 1\n") == "ARMv8 Processor rev 1"
    assert cpu_model("") != ""  # no cpuinfo: the platform's answer, never empty


def test_record_names_the_processor_the_torch_build_and_the_kernel_caps():
    record = describe_machine()
    assert record["cpu"] and record["cores"] >= 1 and record["torch"].startswith("2.13")
    assert set(record["cpu_kernels"]) == {"ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_CBWR"}
    tags = machine_tags(record)
    assert tags["machine.cpu"] == record["cpu"] and tags["machine.cpu_kernels.ATEN_CPU_CAPABILITY"]
    assert all(isinstance(v, str) for v in tags.values())


def test_cpu_identity_tells_apart_two_processors_sold_under_one_name():
    zen4, zen3 = cpu_identity(EPYC), cpu_identity(ZEN3)
    assert cpu_model(EPYC) == cpu_model(ZEN3)  # the name alone cannot tell them apart
    assert zen4 == {"vendor": "AuthenticAMD", "family": "25", "model": "17", "stepping": "1", "cache": "1024 KB",
                    "isa": ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"]}
    assert zen3["model"] == "1" and zen3["isa"] == ["avx2", "fma"] and zen3 != zen4
    assert cpu_identity("") == {}
