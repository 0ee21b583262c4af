# The guide's own popup example (WEB-1..WEB-3), against the real bbclient,
# bluebean-sim and the mock CRM.
@WEB-1 @WEB-2 @WEB-3
Feature: Popup request on an incoming call
  When a call comes in, the softphone sends the popup request configured in
  the Web integration tab, with the placeholders replaced by the call's values,
  and shows what the CRM answers.

  Background:
    Given the BlueBean simulator and a mock CRM are running

  Scenario: the guide's example sent with GET
    Given a softphone for extension 1910 whose popup request is GET to "/softphone/popup/in?" with the parameters
      """
      number=%CallerNumber%
      outline=%OutLineNumber%
      campaignid=1234
      user_name=test_user
      user_password=test_pass
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request
      """
      GET /softphone/popup/in?number=09012345678&outline=0312345678&campaignid=1234&user_name=test_user&user_password=test_pass
      """
    And the softphone shows the CRM's answer in its popup
    When the operator runs "bbclient answer"
    Then the outside caller is talking to extension 1910
    When the outside caller hangs up
    Then the call has ended

  Scenario: the guide's example sent with POST
    Given a softphone for extension 1910 whose popup request is POST to "/softphone/popup/in?" with the parameters
      """
      number=%CallerNumber%
      outline=%OutLineNumber%
      campaignid=1234
      user_name=test_user
      user_password=test_pass
      """
    When an outside caller 09012345678 calls the outside line 0312345678
    Then the softphone rings
    And the CRM receives exactly this request
      """
      POST /softphone/popup/in
      Content-Type: application/x-www-form-urlencoded

      number=09012345678&outline=0312345678&campaignid=1234&user_name=test_user&user_password=test_pass
      """
    When the operator runs "bbclient hangup"
    Then the call has ended
