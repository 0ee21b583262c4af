# Q-6 … Q-8 (beyond the vendor's guide): the operator's everyday phone.
# The softphone writes its ring device and its speaker to WAV files
# ([audio] ring_output_wav, output_wav); the steps read them back and check
# each tone's frequency and cadence by Goertzel analysis. The far end's
# side is the simulator's recording of what its outside party heard.
Feature: The phone rings out loud, plays call-progress tones, mutes, and says "busy" when asked

  Background:
    Given the BlueBean simulator and a mock CRM are running

  @Q-6
  Scenario: an incoming call rings on the ring device until it is answered
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      ring_output_wav = "{dir}/ring.wav"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the recording "ring.wav" carries the ringtone tone of the jp plan
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    And the recording "ring.wav" has stopped growing

  @Q-6
  Scenario: the ringer stops when the caller gives up
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      ring_output_wav = "{dir}/ring.wav"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the recording "ring.wav" carries the ringtone tone of the jp plan
    When the outside caller hangs up
    Then the recording "ring.wav" has stopped growing

  @Q-6
  Scenario: with ring = false nothing rings out loud
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      ring = false
      ring_output_wav = "{dir}/ring.wav"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And for 2 s the recording "ring.wav" does not change

  @Q-6
  Scenario: a second call while talking plays the call-waiting tone in the earpiece, not the ringer
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      ring_output_wav = "{dir}/ring.wav"
      output_wav = "{dir}/heard.wav"
      """
    And an outside caller 09012345678 who says nothing is talking to extension 1910
    When an outside caller 09087654321 calls the outside line 0312345678
    Then the recording "heard.wav" carries the call-waiting tone of the jp plan
    And for 2 s the recording "ring.wav" does not change

  @Q-6
  Scenario: an outgoing call hears the Japanese ringback until it is answered
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      output_wav = "{dir}/heard.wav"
      """
    And the simulator's number 0311112222 rings for 12 s before it answers
    When the operator runs "bbclient call 0311112222"
    Then the recording "heard.wav" carries the ringback tone of the jp plan
    And the simulator shows the call of extension 1910 answered

  @Q-6
  Scenario: the ringback follows the configured plan
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      output_wav = "{dir}/heard.wav"
      tones = "eu"
      """
    And the simulator's number 0311112222 rings for 30 s before it answers
    When the operator runs "bbclient call 0311112222"
    Then the recording "heard.wav" carries the ringback tone of the eu plan

  @Q-6
  Scenario: early media wins over the generated ringback
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      output_wav = "{dir}/heard-1910.wav"
      """
    And the simulator's number 0311112222 rings, then plays a 1000 Hz tone as early media before it answers
    When the operator runs "bbclient call 0311112222"
    Then the softphone of extension 1910 hears a 1000 Hz tone
    And no file named like "heard-1910-" exists

  @Q-6
  Scenario: a busy number plays the busy tone
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      output_wav = "{dir}/heard.wav"
      """
    And the simulator's number 0311112222 is busy
    When the operator runs "bbclient call 0311112222"
    Then the recording "heard.wav" carries the busy tone of the jp plan
    And the recording "heard.wav" has stopped growing

  @Q-7
  Scenario: a muted call sends silence, and RTP keeps flowing
    Given a softphone for extension 1910 is running that speaks a 1000 Hz tone and records what it hears
    And the simulator's number 0311112222 answers speaking a 440 Hz tone
    When the operator runs "bbclient call 0311112222"
    Then the outside party hears a 1000 Hz tone from extension 1910
    When the operator runs "bbclient mute"
    Then the outside party hears silence from extension 1910, with RTP still flowing
    And the status of extension 1910 shows the call muted
    And the softphone of extension 1910 hears a 440 Hz tone
    When the operator runs "bbclient unmute"
    Then the outside party hears a 1000 Hz tone from extension 1910
    And the status of extension 1910 shows the call unmuted

  @Q-7
  Scenario: a CRM link bbclient:mute mutes the call, bbclient:unmute unmutes it
    Given a softphone for extension 1910 is running
    And an outside caller 09012345678 who says nothing is talking to extension 1910
    When the OS hands the link bbclient:mute to bbclient
    Then the status of extension 1910 shows the call muted
    When the OS hands the link bbclient:unmute to bbclient
    Then the status of extension 1910 shows the call unmuted

  @Q-8
  Scenario: a web page cannot switch do not disturb on
    Given a softphone for extension 1910 is running
    When the OS hands the link bbclient:dnd:on to bbclient
    Then the link is refused with the one line "bbclient: unsupported URI 'bbclient:dnd:on': dnd is available on the command line only (known verbs: call, hold, unhold, transfer, transfer_complete, blindtransfer, hangup, mute, unmute)"
    And the status of extension 1910 shows do not disturb off

  @Q-8
  Scenario: do not disturb turns calls away with 486 until it ends
    Given a softphone for extension 1910 is running
    When the operator runs "bbclient dnd on"
    Then the status of extension 1910 shows do not disturb on
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the outside call ends with "rejected 486"
    When the operator runs "bbclient dnd off"
    And an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings

  @Q-8
  Scenario: do not disturb can answer 603 Decline instead
    Given a softphone for extension 1910 with the settings
      """
      [call]
      dnd_status = 603
      """
    When the operator runs "bbclient dnd on"
    And an outside caller 09012345678 calls the outside line 0312345678
    Then the outside call ends with "rejected 603"
