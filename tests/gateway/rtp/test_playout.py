from call_gateway.rtp.playout import PlayoutQueue


def drain(q, n=1000):
    out = []
    for _ in range(n):
        f = q.next_frame()
        if f is None:
            # a partial frame needs one idle tick before it is padded out
            f = q.next_frame()
            if f is None:
                break
        out.append(f)
    return out


def test_chunks_are_cut_into_20ms_frames_and_played_ms_counts_real_audio():
    q = PlayoutQueue()
    q.play(b"\x01" * 100, "a")
    q.play(b"\x01" * 300, "a")  # 400 bytes = 2 full frames + 80 bytes
    assert q.pending_ms() == 50
    frames = drain(q)
    assert [len(f) for f in frames] == [160, 160, 160]
    assert frames[-1] == b"\x01" * 80 + b"\xff" * 80  # padded with u-law silence
    assert q.played_ms("a") == 50  # never the padding: 400 bytes = 50 ms
    assert q.played_ms("other") == 0
    assert q.pending_ms() == 0


def test_partial_of_a_previous_item_is_flushed_when_a_new_item_starts():
    q = PlayoutQueue()
    q.play(b"\x01" * 200, "a")
    q.play(b"\x02" * 160, "b")
    frames = drain(q)
    assert len(frames) == 3
    assert frames[1].startswith(b"\x01" * 40) and frames[2] == b"\x02" * 160
    assert q.played_ms("a") == 25 and q.played_ms("b") == 20


def test_clear_drops_everything_unsent_and_played_ms_stops():
    q = PlayoutQueue()
    q.play(b"\x01" * 1610, "a")  # 10 frames + 10 bytes
    assert q.next_frame() is not None
    assert q.clear() == 10  # 9 full frames + the partial
    assert q.next_frame() is None and q.next_frame() is None
    assert q.pending_ms() == 0
    assert q.played_ms("a") == 20


def test_partial_is_not_padded_while_more_audio_follows_in_time():
    q = PlayoutQueue()
    q.play(b"\x01" * 80, "a")
    assert q.next_frame() is None  # first idle tick: wait for more
    q.play(b"\x01" * 80, "a")
    assert q.next_frame() == b"\x01" * 160  # joined, not padded


def test_overflow_drops_oldest():
    q = PlayoutQueue(max_ms=100)  # 5 frames
    q.play(b"\x01" * 160 * 7, "a")
    assert q.pending_ms() == 100 and q.overflow_frames == 2


def test_pause_holds_frames_resume_plays_them_on_and_clear_drops_them():
    q = PlayoutQueue()
    q.play(bytes(range(160)) * 5, "a")
    assert q.next_frame() is not None
    q.pause()
    assert q.paused and q.next_frame() is None and q.next_frame() is None  # held, not dropped
    assert q.pending_ms() == 80 and q.played_ms("a") == 20
    q.resume()
    assert len(drain(q)) == 4 and q.played_ms("a") == 100  # nothing lost
    q.play(b"\x01" * 480, "b")
    q.pause()
    assert q.clear() == 3 and q.played_ms("b") == 0  # barge-in: held frames gone
