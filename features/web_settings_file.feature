# WEB-7: Save stores the settings. The settings window and its Save button
# do not exist yet (that waits for the UI); what Save writes is the settings
# file, and these scenarios prove the stored settings are the ones in force:
# after a restart the softphone uses what the file holds, and a file Save
# would refuse is refused with one line naming the fix.
@WEB-7
Feature: Stored web integration settings
  The web integration settings are stored in the settings file; the
  softphone uses exactly what is stored, after every restart.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: changed settings are in force after a restart
    Given a softphone for extension 1910 with the settings
      """
      [web.popup]
      url = "{crm}/first"
      params = "number=%CallerNumber%"
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      GET /first?number=09012345678
      """
    When the operator runs "bbclient hangup"
    Then the call has ended
    When the CRM's requests are cleared
    And the softphone for extension 1910 is restarted with the settings
      """
      [web.popup]
      method = "POST"
      url = "{crm}/second"
      params = '''
      tel=%CallerNumber%
      line=%OutLineNumber%
      '''
      """
    And an outside caller 09087654321 calls the outside line 0312345678
    Then the CRM receives exactly this request for the call
      """
      POST /second
      Content-Type: application/x-www-form-urlencoded

      tel=09087654321&line=0312345678
      """

  Scenario: settings Save would refuse are refused at start, naming the key
    When the softphone for extension 1910 is started with the settings
      """
      [web.popup]
      method = "PUT"
      url = "{crm}/popup"
      params = "number=%CallerNumber%"
      """
    Then it exits with status 2 and one line on stderr naming "web.popup.method"

  Scenario: an unknown key is refused at start
    When the softphone for extension 1910 is started with the settings
      """
      [web.popup]
      url = "{crm}/popup"
      parameters = "number=%CallerNumber%"
      """
    Then it exits with status 2 and one line on stderr naming "parameters"
