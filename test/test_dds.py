"""The Fast DDS profile for camera-sized messages: which variable is set, when, and the hint."""
from __future__ import annotations


def test_the_profile_variable_follows_the_installed_fast_dds(tmp_path):
    from unipose_ros.ros.dds import fastdds_major, large_data_environment

    v2, v3 = tmp_path / "fastdds2", tmp_path / "fastdds3"
    v2.mkdir()
    v3.mkdir()
    (v2 / "libfastrtps.so").touch()
    (v3 / "libfastdds.so").touch()
    assert fastdds_major({"LD_LIBRARY_PATH": str(v2)}) == 2
    assert fastdds_major({"LD_LIBRARY_PATH": f"{v3}:{v2}"}) == 3
    assert list(large_data_environment({"LD_LIBRARY_PATH": str(v2)})) == ["FASTRTPS_DEFAULT_PROFILES_FILE"]
    assert list(large_data_environment({"LD_LIBRARY_PATH": str(v3)})) == ["FASTDDS_DEFAULT_PROFILES_FILE"]


def test_transport_hint_and_profile_environment():
    from unipose_ros.ros.dds import PROFILE, large_data_environment, profile_variables, transport_hint

    assert PROFILE.is_file() and "<segment_size>67108864</segment_size>" in PROFILE.read_text()
    assert large_data_environment({}) == {v: str(PROFILE) for v in profile_variables({})}
    assert large_data_environment({"FASTRTPS_DEFAULT_PROFILES_FILE": "/mine.xml"}) == {}  # the user's wins
    assert large_data_environment({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}) == {}
    assert transport_hint({"FASTDDS_DEFAULT_PROFILES_FILE": "/x.xml"}) is None
    assert str(PROFILE) in transport_hint({"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"})
