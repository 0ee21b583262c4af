# WEB-6: "do nothing on internal calls" for web integration.
#
# The simulator cannot place an extension-to-extension call yet (that waits
# for its B2BUA). Until then the internal call is an INVITE sent by the test's
# own SIP user agent exactly as BlueBean delivers one: the calling extension
# in From, the called extension in To and the Request-URI, no outside line
# (no P-Called-Party-ID). An outside call from a number that looks like an
# extension goes through the simulator.
@WEB-6
Feature: No web integration on internal calls
  With "do nothing on internal calls" checked, an extension-to-extension call
  sends no popup request and opens no detail view; outside calls still do.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: an internal call sends no popup request and opens no browser
    Given a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = true

      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"

      [web.detail]
      url = "{crm}/detail"
      params = "number=%CallerNumber%"
      open_browser_on_ring = true
      browser = "{recorder:browser}"
      """
    When extension 1911 calls extension 1910 directly
    Then the softphone reports the popup hook as skipped with "internal call"
    And the softphone reports the details hook as skipped with "internal call"
    And the CRM receives no request
    And "browser" is not run

  Scenario: with the box unchecked an internal call sends the popup request
    Given a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = false

      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''
      """
    When extension 1911 calls extension 1910 directly
    Then the CRM receives exactly this request for the call
      """
      GET /popup?number=1911&outline=
      """

  Scenario: an outside caller whose number looks like an extension is not internal
    Given a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = true

      [web.popup]
      url = "{crm}/popup"
      params = '''
      number=%CallerNumber%
      outline=%OutLineNumber%
      '''
      """
    When an outside caller 1234 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request for the call
      """
      GET /popup?number=1234&outline=0312345678
      """

  @CMD-5
  Scenario: skipping web integration leaves command integration alone
    Given a softphone for extension 1910 with the settings
      """
      [web]
      skip_internal = true

      [web.popup]
      url = "{crm}/popup"
      params = "number=%CallerNumber%"

      [command]
      skip_internal = false
      on_ring = "{recorder:on-ring} ring %CallerNumber% [%OutLineNumber%]"
      """
    When extension 1911 calls extension 1910 directly
    Then "on-ring" is run once with the arguments
      """
      ["ring", "1911", "[]"]
      """
    And the softphone reports the popup hook as skipped
    And the CRM receives no request
