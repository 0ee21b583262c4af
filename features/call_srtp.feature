# Q-10 (beyond the vendor's guide): encrypted call audio. SRTP with SDES keys
# (RFC 4568) between the softphone ([audio] srtp) and the simulator's
# outside parties (their script's srtp). A party decrypts with the key the
# softphone announced and drops what does not authenticate, so the tone it
# hears proves the softphone's audio was SRTP under that key; the
# softphone's recording proves the party's. (SIP runs over UDP here; with a
# hosted PBX the keys travel inside TLS, see the NAT tests.)
@Q-10
Feature: Call audio is encrypted with SRTP when the settings ask for it

  Background:
    Given the BlueBean simulator and a mock CRM are running
    And the file "voice.wav" holds a 1000 Hz tone

  Scenario: srtp = "required": an outgoing call is encrypted both ways
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      srtp = "required"
      input_wav = "{dir}/voice.wav"
      output_wav = "{dir}/heard-1910.wav"
      """
    And the simulator's number 0311112222 answers speaking a 440 Hz tone, with SRTP required
    When the operator runs "bbclient call 0311112222"
    Then the outside party hears a 1000 Hz tone from extension 1910
    And the softphone of extension 1910 hears a 440 Hz tone
    And the call of extension 1910 is encrypted with AES_CM_128_HMAC_SHA1_80 both ways
    And the softphone of extension 1910 logged 'warning: audio.srtp is "required" but SIP runs over udp'

  Scenario: srtp = "optional": an incoming call that offers keys is answered encrypted
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      srtp = "optional"
      input_wav = "{dir}/voice.wav"
      output_wav = "{dir}/heard-1910.wav"
      """
    When an outside caller 09012345678 speaking a 620 Hz tone with SRTP optional calls the outside line 0312345678
    Then the softphone rings
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    And the outside party hears a 1000 Hz tone from extension 1910
    And the softphone of extension 1910 hears a 620 Hz tone
    And the call of extension 1910 is encrypted with AES_CM_128_HMAC_SHA1_80 both ways

  Scenario: srtp = "optional" falls back to plain audio with a far end without SRTP
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      srtp = "optional"
      input_wav = "{dir}/voice.wav"
      output_wav = "{dir}/heard-1910.wav"
      """
    And the simulator's number 0311112222 answers speaking a 440 Hz tone, with SRTP off
    When the operator runs "bbclient call 0311112222"
    Then the outside party hears a 1000 Hz tone from extension 1910
    And the softphone of extension 1910 hears a 440 Hz tone
    And the call of extension 1910 is not encrypted

  Scenario: srtp = "required" turns away a call without keys, and says why
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      srtp = "required"
      """
    When an outside caller 09012345678 speaking a 620 Hz tone with SRTP off calls the outside line 0312345678
    Then the outside call ends with "rejected 488"
    And the softphone of extension 1910 logged 'refusing an INVITE: audio.srtp is "required" but the offer has no usable SRTP key'

  Scenario: new keys from a re-INVITE are followed without a break in the audio
    Given a softphone for extension 1910 with the settings
      """
      [audio]
      srtp = "required"
      input_wav = "{dir}/voice.wav"
      output_wav = "{dir}/heard-1910.wav"
      """
    And the simulator's number 0311112222 answers speaking a 440 Hz tone, with SRTP required and a new key at each re-INVITE
    When the operator runs "bbclient call 0311112222"
    Then the softphone of extension 1910 hears a 440 Hz tone
    When the operator at extension 1910 runs "bbclient hold"
    Then the softphone of extension 1910 reports the call held
    When 2 seconds pass
    And the operator at extension 1910 runs "bbclient unhold"
    Then the softphone of extension 1910 reports the call resumed
    And the outside party of extension 1910 has changed its SRTP key 2 times
    And the softphone of extension 1910 hears a 440 Hz tone
    And the outside party hears a 1000 Hz tone from extension 1910
    And the call of extension 1910 is encrypted with AES_CM_128_HMAC_SHA1_80 both ways

  Scenario: the log shows the SDP of an encrypted call without its keys
    Given a softphone for extension 1910 logging everything, with the settings
      """
      [audio]
      srtp = "optional"
      input_wav = "{dir}/voice.wav"
      output_wav = "{dir}/heard-1910.wav"
      """
    And the simulator's number 0311112222 answers speaking a 440 Hz tone, with SRTP optional
    When the operator runs "bbclient call 0311112222"
    Then the outside party hears a 1000 Hz tone from extension 1910
    And the call of extension 1910 is encrypted with AES_CM_128_HMAC_SHA1_80 both ways
    And the log of extension 1910 shows SRTP keys only as hidden
